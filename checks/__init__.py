"""Claim checks: every claim behind the answer key, each with a negative control.

A check lives in ``checks/check_<anything>.py`` and is registered with :func:`checks.claim.claim`.
"""
