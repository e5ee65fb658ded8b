"""Every msgspec Struct that crosses a boundary: API bodies, events, manifests. No logic."""
