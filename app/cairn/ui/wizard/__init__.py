"""The onboarding wizard's Qt pages: one page per view of `cairn.onboarding`."""
