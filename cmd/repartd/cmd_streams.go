package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/repartd/repartd/kinesisio"
)

func cmdStreams(ctx context.Context, args []string, getenv func(string) string, io stdio) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "delete") {
		fmt.Fprintln(io.err, "usage: repartd streams create --stream S --shards N | repartd streams delete --stream S")
		return &exitError{code: 2, err: errors.New("streams: want create or delete")}
	}
	verb := args[0]
	fs := newFlags("streams "+verb+" --stream S [--shards N]", "Create (and wait until ACTIVE) or delete a stream.", io.err)
	stream := fs.String("stream", "", "stream name")
	shards := fs.Int("shards", 1, "shard count for create (0: on-demand)")
	endpoint := fs.String("endpoint-url", "", "endpoint (default: the SDK chain, e.g. AWS_ENDPOINT_URL)")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return usageError(err)
	}
	if *stream == "" {
		return usageError(errors.New("stream: required"))
	}
	c, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: *endpoint})
	if err != nil {
		return err
	}
	if verb == "delete" {
		return kinesisio.DeleteStream(ctx, c, *stream)
	}
	if *shards < 0 {
		return usageError(fmt.Errorf("shards %d: must be ≥ 0", *shards))
	}
	return kinesisio.CreateStream(ctx, c, *stream, *shards)
}
