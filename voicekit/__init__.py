"""voicekit."""
