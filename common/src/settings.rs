//! Integration settings, validated on load.
