"""The onboarding wizard as a pure state machine (no Qt below here)."""
