"""Per-student workspaces: a backend (docker, process, off) runs them, a proxy fronts them."""
