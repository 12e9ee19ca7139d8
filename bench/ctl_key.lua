-- SPDX-License-Identifier: MIT
-- wrk script: send the API key from the environment (never in argv).
wrk.headers["X-API-Key"] = os.getenv("PV_API_KEY")
