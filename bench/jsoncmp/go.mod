module github.com/repartd/repartd/bench/jsoncmp

go 1.26.8

require (
	github.com/repartd/repartd v0.0.0
	github.com/valyala/fastjson v1.6.10
)

require github.com/cespare/xxhash/v2 v2.3.0 // indirect

replace github.com/repartd/repartd => ../..
