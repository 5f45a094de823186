"""starling-hello: the example third-party Starling plugin (see :mod:`starling_hello.plugin`)."""
