"""The real-time eligibility clearinghouse: X12 270 in, 271 (or 999 / TA1) out."""
