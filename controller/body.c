/* SPDX-License-Identifier: MIT */
/*
 * Request bodies: strict JSON (duplicate keys refused) checked against a
 * whitelist of fields, each with its own rule; errors name the field.
 * Bodies are untrusted and unauthenticated here, so nothing is echoed but
 * the (truncated) name of an unknown field.
 */
#include <string.h>

#include "controller.h"

static int tier_ok(const char *s)
{
	return pv_tier_parse(s) != PV_TIER_NONE;
}

struct body_field {
	const char *name;
	unsigned arg;
	size_t off, size; /* string destination in struct ctl_args; size 0 = boolean */
	int (*valid)(const char *s);
	const char *rule; /* for the error message */
};

#define ARG_STR(n, a, m, v, rule)                                                                  \
	{                                                                                          \
		n, a, offsetof(struct ctl_args, m), sizeof(((struct ctl_args *)0)->m), v, rule     \
	}

static const struct body_field body_fields[] = {
        ARG_STR("server_id", CTL_ARG_SERVER, server_id, pv_server_id_is_valid, "[a-z0-9-]{1,31}"),
        ARG_STR("device", CTL_ARG_DEVICE, device, pv_device_is_valid, "[A-Za-z0-9._-]{1,64}"),
        ARG_STR("public_key", CTL_ARG_PUBKEY, public_key, pv_key_is_valid_base64,
                "a canonical base64 WireGuard key (44 characters)"),
        ARG_STR("user_id", CTL_ARG_USER, user_id, pv_user_id_is_valid, "[A-Za-z0-9.-]{1,64}"),
        {"tier", CTL_ARG_TIER, 0, 0, tier_ok, "\"basic\" or \"pro\""},
        {"all", CTL_ARG_ALL, 0, 0, NULL, "true"},
};

static const struct body_field *body_field_find(const char *name, unsigned allowed)
{
	size_t i;

	for (i = 0; i < sizeof(body_fields) / sizeof(body_fields[0]); i++)
		if ((body_fields[i].arg & allowed) && strcmp(body_fields[i].name, name) == 0)
			return &body_fields[i];
	return NULL;
}

static int arg_set(struct ctl_args *args, const struct body_field *f, json_t *v, char *err,
                   size_t errlen)
{
	const char *s;

	if (f->arg == CTL_ARG_ALL) {
		if (!json_is_true(v)) {
			ctl_errf(err, errlen, "field \"all\" must be true when present");
			return PV_EINVAL;
		}
		args->all = 1;
		return 0;
	}
	s = json_string_value(v);
	/* Strings with an embedded NUL are refused: strlen must be the whole value. */
	if (!s || strlen(s) != json_string_length(v) || !f->valid(s)) {
		ctl_errf(err, errlen, "field \"%s\" must be %s", f->name, f->rule);
		return PV_EINVAL;
	}
	if (f->arg == CTL_ARG_TIER) {
		args->tier = pv_tier_parse(s);
		return 0;
	}
	memcpy((char *)args + f->off, s, strlen(s) + 1);
	return 0;
}

int ctl_args_parse(struct ctl_args *args, const char *body, size_t len, unsigned allowed,
                   unsigned required, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root, *v;
	const char *key;
	size_t i;
	int r = PV_EINVAL;

	memset(args, 0, sizeof(*args));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		ctl_errf(err, errlen, "body is not valid JSON: %s (line %d, column %d)", je.text,
		         je.line, je.column);
		return PV_EINVAL;
	}
	if (!json_is_object(root)) {
		ctl_errf(err, errlen, "body must be a JSON object");
		goto out;
	}
	json_object_foreach(root, key, v)
	{
		const struct body_field *f = body_field_find(key, allowed);

		if (!f) {
			ctl_errf(err, errlen, "unknown field \"%.64s\"", key);
			r = PV_EINVAL;
			goto out;
		}
		if ((r = arg_set(args, f, v, err, errlen)) < 0)
			goto out;
		args->set |= f->arg;
	}
	for (i = 0; i < sizeof(body_fields) / sizeof(body_fields[0]); i++) {
		if ((required & body_fields[i].arg) && !(args->set & body_fields[i].arg)) {
			ctl_errf(err, errlen, "field \"%s\" is required", body_fields[i].name);
			r = PV_EINVAL;
			goto out;
		}
	}
	r = 0;
out:
	json_decref(root);
	return r;
}
