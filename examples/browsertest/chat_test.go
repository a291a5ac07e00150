package browsertest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/realtime-go/realtime/internal/leakcheck"
)

// chatPage opens the chat in a new tab and signs in as nick.
func chatPage(t *testing.T, b context.Context, srv *server, nick string) *tab {
	t.Helper()
	p := newTab(t, b, nick, srv.url("/"))
	p.waitJS("the nickname form", `!document.getElementById("gate").hidden`)
	p.do("sign in", chromedp.SendKeys(chromedp.CSS("#nick"), nick+kb.Enter))
	p.waitJS("the chat to go live", `chat.state === "live" && chat.nick === `+jsString(nick))
	return p
}

// say types text in the composer and sends it with Enter.
func (tb *tab) say(text string) {
	tb.t.Helper()
	tb.do("say "+text, chromedp.SendKeys(chromedp.CSS("#text"), text+kb.Enter))
}

// waitText waits until the conversation key holds text.
func (tb *tab) waitText(key, text string) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf("%s in %s", text, key), fmt.Sprintf(`(chat.convs[%s] || []).some(m => m.text === %s)`, jsString(key), jsString(text)))
}

// texts returns the texts of the messages of a conversation, in order.
func (tb *tab) texts(key string) []string {
	return eval[[]string](tb, fmt.Sprintf(`(chat.convs[%s] || []).filter(m => m.type === "message" || m.type === "dm").map(m => m.text)`, jsString(key)))
}

// TestChat has two people talk in a room, watched by the feed page, through
// a server restart (nothing lost, nothing twice) and bad input (a clear
// error on the page).
func TestChat(t *testing.T) {
	leakcheck.Check(t)
	bin := buildExample(t, "chat")
	state := filepath.Join(t.TempDir(), "chat.state")
	srv := startServer(t, bin, "-state", state)
	b := newBrowser(t)

	ann := chatPage(t, b, srv, "ann")
	bob := chatPage(t, b, srv, "bob")
	ann.waitJS("bob in the room", `[...document.querySelectorAll("#people .item")].some(e => e.textContent === "bob")`)
	feed := newTab(t, b, "feed", srv.url("/feed")) // general, the default room
	feed.waitJS("the feed to go live", `feed.state === "live"`)

	// A message typed in one page shows in the other and in the feed.
	ann.say("Hello from ann")
	bob.waitText("#general", "Hello from ann")
	bob.waitJS("the message on screen", `[...document.querySelectorAll("#messages .bubble")].some(e => e.textContent === "Hello from ann")`)
	feed.waitJS("the message in the feed", `feed.texts.includes("Hello from ann") &&
		[...document.querySelectorAll("#feed .text")].some(e => e.textContent === "Hello from ann")`)
	bob.do("type", chromedp.SendKeys(chromedp.CSS("#text"), "Hi ann, how"))
	ann.waitJS("bob typing", `document.getElementById("typing").textContent.includes("bob is typing")`)
	bob.do("finish typing", chromedp.SendKeys(chromedp.CSS("#text"), " are you?"+kb.Enter))
	ann.waitText("#general", "Hi ann, how are you?")
	ann.say("Great! Trying the live feed.")
	bob.waitText("#general", "Great! Trying the live feed.")
	feed.waitJS("three messages in the feed", `feed.texts.length === 3`)
	ann.screenshotSized("chat", 1100, 640)
	bob.screenshotDark("chat-dark", 1100, 640)
	feed.screenshotSized("chat-feed", 900, 480)

	// A direct message.
	ann.do("open a DM with bob", clickWhere(`[...document.querySelectorAll("#people button")].find(b => b.textContent === "bob")`))
	ann.waitJS("the DM view", `document.getElementById("title").textContent.includes("bob")`)
	ann.say("psst, bob")
	bob.waitText("@ann", "psst, bob")
	bob.waitJS("an unread badge", `document.querySelector('#dms li[data-key="@ann"] .badge')?.textContent === "1"`)

	// Another tab that signs in as ann is asked for another nickname, and
	// gets none of ann's direct messages.
	mallory := newTab(t, b, "mallory", srv.url("/"))
	mallory.waitJS("the nickname form", `!document.getElementById("gate").hidden`)
	mallory.do("sign in as ann", chromedp.SendKeys(chromedp.CSS("#nick"), "ann"+kb.Enter))
	mallory.waitJS("the nickname refused", `!document.getElementById("gate").hidden &&
		document.getElementById("nick-error").textContent.includes("taken")`)
	if got := eval[[]string](mallory, `Object.keys(chat.convs).filter(k => k[0] === "@")`); len(got) != 0 {
		t.Errorf("a tab claiming ann's nickname got direct messages: %q", got)
	}

	// Rooms: bob joins #games and leaves #random; ann joins #games and bob
	// sees her arrive.
	bob.do("join games", chromedp.SendKeys(chromedp.CSS("#join-room"), "games"+kb.Enter))
	bob.waitJS("in games", `chat.rooms.includes("games") && document.getElementById("title").textContent === "#games"`)
	bob.do("leave random", chromedpClick(`#rooms li[data-key="#random"] .x`))
	bob.waitJS("out of random", `!chat.rooms.includes("random") && !document.querySelector('#rooms li[data-key="#random"]')`)
	ann.do("join games", chromedp.SendKeys(chromedp.CSS("#join-room"), "games"+kb.Enter))
	bob.waitJS("ann joined", `(chat.convs["#games"] || []).some(m => m.type === "notice" && m.text.startsWith("ann joined"))`)
	bob.waitJS("ann among the people", `[...document.querySelectorAll("#people .item")].some(e => e.textContent === "ann")`)

	// A restart with history: both pages come back by themselves, in the
	// rooms they are in now, and whatever is said while one of them is away
	// arrives once.
	want := []string{"Hello from ann", "Hi ann, how are you?", "Great! Trying the live feed."}
	opens := eval[int](ann, `chat.opens`)
	srv.stop()
	for _, p := range []*tab{ann, bob} {
		p.waitJS("the indicator to say reconnecting", `chat.state === "reconnecting" &&
			document.getElementById("status").textContent.includes("Reconnecting")`)
	}
	srv.start()
	ann.waitJS("ann back", fmt.Sprintf(`chat.opens > %d && chat.state === "live"`, opens))
	ann.do("back to general", chromedpClick(`#rooms li[data-key="#general"] .item`))
	ann.say("Back after the restart")
	bob.waitJS("bob back", fmt.Sprintf(`chat.opens > %d && chat.state === "live"`, opens))
	bob.say("Games after the restart")
	ann.waitText("#games", "Games after the restart")
	bob.do("back to general", chromedpClick(`#rooms li[data-key="#general"] .item`))
	bob.say("Me too")
	want = append(want, "Back after the restart", "Me too")
	for _, p := range []*tab{ann, bob} {
		p.waitText("#general", "Me too")
		if got := p.texts("#general"); !slices.Equal(got, want) {
			t.Errorf("%s's #general after the restart:\n got %q\nwant %q", p.name, got, want)
		}
		if d := eval[int](p, `chat.duplicates`); d != 0 {
			t.Errorf("%s was sent %d message(s) twice", p.name, d)
		}
		if g := eval[int](p, `chat.gaps.length`); g != 0 {
			t.Errorf("%s saw %d gap(s) across a restart with history", p.name, g)
		}
		p.waitJS("no duplicate on screen", `new Set([...document.querySelectorAll("#messages .msg")].map(e => e.dataset.id)).size ===
			document.querySelectorAll("#messages .msg").length`)
	}
	if got := bob.texts("@ann"); !slices.Equal(got, []string{"psst, bob"}) {
		t.Errorf("bob's DMs after the restart: %q", got)
	}
	feed.waitJS("the feed after the restart", `feed.texts.includes("Me too")`)
	if got := eval[[]string](feed, `feed.texts`); !slices.Equal(got, want) {
		t.Errorf("feed after the restart:\n got %q\nwant %q", got, want)
	}
	if d := eval[int](feed, `feed.duplicates + feed.gaps.length`); d != 0 {
		t.Errorf("feed: %d duplicates or gaps", d)
	}

	// Bad input gets a clear error on the page and loses nothing.
	ann.do("paste a long message", chromedp.SetValue(chromedp.CSS("#text"), strings.Repeat("long ", 240)),
		chromedpClick(`#composer button[type="submit"]`))
	ann.waitJS("the too-long error", `[...document.querySelectorAll('#errors .error[data-code="too_long"]')].some(e =>
		e.textContent.includes("at most 1000 characters"))`)
	ann.waitJS("the long message back in the box", `document.getElementById("text").value.length > 1000`)
	ann.screenshot("chat-error")
	eval[string](ann, `document.getElementById("text").value = ""`)
	// Past the connection's limit, the server closes it (1009): the page
	// says so, gives the text back and reconnects.
	opens = eval[int](ann, `chat.opens`)
	eval[string](ann, `document.getElementById("text").value = "x".repeat(40000)`)
	ann.do("send a huge message", chromedpClick(`#composer button[type="submit"]`))
	ann.waitJS("the 1009 error", `[...document.querySelectorAll('#errors .error[data-code="closed"]')].some(e => e.textContent.includes("1009"))`)
	ann.waitJS("reconnected with the text back", fmt.Sprintf(`chat.opens > %d && chat.state === "live" &&
		document.getElementById("text").value.length === 40000`, opens))
	eval[string](ann, `document.getElementById("text").value = ""`)
	eval[bool](ann, `chat.sendRaw("{not json")`)
	ann.waitJS("the JSON error", `document.querySelector('#errors .error[data-code="bad_json"]') !== null`)
	ann.do("join a bad room", chromedp.SendKeys(chromedp.CSS("#join-room"), "Not A Room!"+kb.Enter))
	ann.waitJS("the room-name error", `document.querySelector('#errors .error[data-code="bad_room"]') !== null`)
	ann.say("Still fine")
	bob.waitText("#general", "Still fine")

	// A restart without history: the pages say that messages may be
	// missing, and carry on.
	opens = eval[int](bob, `chat.opens`)
	srv.restart("-state", "")
	for _, p := range []*tab{ann, bob} {
		p.waitJS("the gap notice", `chat.gaps.length === 1 && chat.gaps[0].reason === "unknown epoch" &&
			[...document.querySelectorAll("#messages .notice.gap")].length === 1`)
	}
	bob.waitJS("bob back", fmt.Sprintf(`chat.opens > %d && chat.state === "live"`, opens))
	bob.say("Anyone still here?")
	ann.waitText("#general", "Anyone still here?")
	ann.screenshotSized("chat-gap", 1100, 640)
}
