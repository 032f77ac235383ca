module provlog.dev/sdk/go

go 1.19
