module example.com/notproxywasm

go 1.24
