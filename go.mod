module github.com/realtime-go/realtime

go 1.26.0
