"""Records of decisions and calls: what they hold, where they go, how they are read back."""
