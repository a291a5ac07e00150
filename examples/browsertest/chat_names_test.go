package browsertest

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestChatObjectPropertyNames: rooms and nicknames named after properties
// every JavaScript object has ("constructor", "__proto__",
// "hasOwnProperty") work like any other in the chat and feed pages: joining,
// presence, typing, messages, direct messages, and a reload that comes
// back to them. Any exception in a page fails the test.
func TestChatObjectPropertyNames(t *testing.T) {
	leakcheck.Check(t)
	bin := buildExample(t, "chat")
	srv := startServer(t, bin, "-state", "")
	b := newBrowser(t)

	ann := chatPage(t, b, srv, "__proto__")
	bob := chatPage(t, b, srv, "hasOwnProperty")
	for _, p := range []*tab{ann, bob} {
		p.do("join constructor", chromedp.SendKeys(chromedp.CSS("#join-room"), "constructor"+kb.Enter))
		p.waitJS("in constructor", `chat.rooms.includes("constructor") && document.getElementById("title").textContent === "#constructor"`)
	}
	ann.waitJS("hasOwnProperty among the people", `[...document.querySelectorAll("#people .item")].some(e => e.textContent === "hasOwnProperty")`)
	bob.do("type", chromedp.SendKeys(chromedp.CSS("#text"), "typing in constructor"))
	ann.waitJS("hasOwnProperty typing", `document.getElementById("typing").textContent.includes("hasOwnProperty is typing")`)
	bob.do("send", chromedp.SendKeys(chromedp.CSS("#text"), kb.Enter))
	ann.waitText("#constructor", "typing in constructor")
	ann.say("hello, constructor")
	bob.waitText("#constructor", "hello, constructor")

	// A direct message between the two.
	ann.do("open a DM", clickWhere(`[...document.querySelectorAll("#people button")].find(b => b.textContent === "hasOwnProperty")`))
	ann.waitJS("the DM view", `document.getElementById("title").textContent.includes("hasOwnProperty")`)
	ann.say("psst")
	bob.waitText("@__proto__", "psst")
	bob.waitJS("an unread badge", `document.querySelector('#dms li[data-key="@__proto__"] .badge')?.textContent === "1"`)

	// A reload starts the page again in those rooms, with the backlog.
	for _, p := range []*tab{ann, bob} {
		p.do("reload", chromedp.Reload())
		p.waitJS("live again in constructor", `chat.state === "live" && chat.rooms.includes("constructor")`)
		p.waitText("#constructor", "hello, constructor")
	}
	bob.do("to constructor", chromedpClick(`#rooms li[data-key="#constructor"] .item`))
	bob.waitJS("__proto__ among the people after the reload", `[...document.querySelectorAll("#people .item")].some(e => e.textContent === "__proto__")`)

	// The read-only feed of the room.
	feed := newTab(t, b, "feed", srv.url("/feed?room=constructor"))
	feed.waitJS("the feed to go live", `feed.state === "live"`)
	bob.say("to the feed too")
	feed.waitJS("the message in the feed", `feed.texts.includes("to the feed too")`)
}
