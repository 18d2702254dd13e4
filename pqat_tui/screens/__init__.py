"""The app's screens besides the main one: help, confirmations."""
