// HTTP server: see the files beside this one.
