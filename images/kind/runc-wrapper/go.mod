module pgfleet.local/runc-wrapper

go 1.24
