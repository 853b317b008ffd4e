// Command mel-grpc-gateway is the benchmark's reference for the gateway:
// grpc-gateway v2 serving HTTP/JSON for CatalogService from the handlers it
// generates from proto/, in front of the same catalog upstream as Mel's
// gateway. It does what a production grpc-gateway does per request (route,
// transcode, forward metadata, call upstream) and nothing else.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	catalogv1 "mel.local/bench/grpc-gateway/gen/mel/catalog/v1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "HTTP address to listen on")
	catalog := flag.String("catalog", "127.0.0.1:50052", "catalog gRPC address")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	mux := runtime.NewServeMux()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if err := catalogv1.RegisterCatalogServiceHandlerFromEndpoint(ctx, mux, *catalog, opts); err != nil {
		log.Fatalf("register catalog: %v", err)
	}
	server := &http.Server{Addr: *listen, Handler: mux}
	go func() {
		<-ctx.Done()
		_ = server.Shutdown(context.Background())
	}()
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatalf("listen: %v", err)
	}
}
