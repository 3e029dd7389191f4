"""The container runtime: an OCI bundle becomes an isolated, limited, secured process."""
