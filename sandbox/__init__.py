"""A local, faithful athenaOne look-alike (plus clearinghouse, Twilio, Clover and a portal sink)."""
