from unit.image.fixtures import busybox_layout, seed_app, store  # noqa: F401
