"""The container runtime: an OCI bundle becomes an isolated, limited, secured process.

Start reading at container.py (the API: create/start/state/kill/delete), then
process.py (the three processes of create), init.py (the container's init, in
order) and rootfs.py. cli.py is the runc-compatible command line over it;
client.py is how a multi-threaded program (the kubelet) drives it. cgroups/,
seccomp.py and capabilities.py are the limits and the security settings.
"""
