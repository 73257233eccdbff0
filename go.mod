module github.com/logrelay/logrelay

go 1.26
