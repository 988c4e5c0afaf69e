package broker_test

import (
	"fmt"
	"log/slog"

	"github.com/release-engineering/pubtools-sign-go/broker"
)

// One PendingRequests serves every operation of a process: the router
// hands each reply to the operation that registered its request id, with
// the request's position in that operation.
func ExamplePendingRequests() {
	pending := broker.NewPendingRequests()
	router := broker.NewReplyRouter("request_id", pending, slog.New(slog.DiscardHandler))

	replies := make(chan *broker.Reply, 2) // room for one reply per id
	pending.Add(replies, "id-a", "id-b")
	defer pending.Remove("id-a", "id-b")

	// What a receiver gets from the signing server, in any order.
	router.Route("/topic/replies", []byte(`{"msg": {"request_id": "id-b", "errors": []}}`), nil)
	router.Route("/topic/replies", []byte(`{"msg": {"request_id": "id-b", "errors": []}}`), nil) // a duplicate
	router.Route("/topic/replies", []byte(`{"msg": {"request_id": "id-a", "errors": ["no such key"]}}`), nil)

	for range 2 {
		r := <-replies
		fmt.Println(r.RequestID, r.Index, r.HasErrors)
	}
	fmt.Println("still pending:", pending.Len(), "unknown:", router.Stats().Unknown)
	// Output:
	// id-b 1 false
	// id-a 0 true
	// still pending: 0 unknown: 1
}
