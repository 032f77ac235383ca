package provlog_test

import (
	"context"
	"fmt"
	"log"

	provlog "provlog.dev/sdk/go"
)

// The README's quick start: sign an event, submit it, verify the receipt
// offline with only the log's key.
func Example() {
	srv := provlog.StartTestServer() // a real provlog server for the example
	defer srv.Stop()
	serverURL, skey, logVkey := srv.URL, srv.Submitters["dev"].SkeyString(), srv.LogKey().String()

	ctx := context.Background()
	key, _ := provlog.ParseSigner(skey)         // PRIVATE+KEY+dev+...
	logKey, _ := provlog.ParseVerifier(logVkey) // pinned out of band
	client := provlog.NewClient(serverURL)
	ev := &provlog.Event{EventID: "onboard-42", OccurredAt: "2026-12-04T10:00:00Z", Action: "issue",
		Actor: provlog.Actor{ID: "wf/onboard", Type: "workflow"}, Target: provlog.Target{ID: "svc-payments", Type: "service_account"},
		Decision: provlog.Decision{Result: "allow"}, Outcome: "success"}
	sub, _ := provlog.Sign(ev, "dev", key, logKey.Name()) // signature v2, bound to this log's origin
	receipt, _, err := client.Submit(ctx, sub)
	if err != nil {
		log.Fatal(err)
	}
	v, err := receipt.Verify(logKey)
	fmt.Println(err, v.Leaf.Kind, v.Index < v.Checkpoint.Size)
	// Output: <nil> event true
}
