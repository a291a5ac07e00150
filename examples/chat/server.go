package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// A chat holds who is connected and in which rooms, and wires the two
// packages together: every room message goes to the WebSocket hub (topic
// "#room") for the chat pages and to the SSE broker (topic "room") for the
// read-only feed.
type chat struct {
	hub          *ws.Hub
	feed         *sse.Broker
	key          []byte         // signs session tokens; kept in the state file
	allowedHosts []string       // the hub's and feed's AllowedHosts
	trusted      []netip.Prefix // the server's own reverse proxies: see clientAddr

	closing atomic.Bool // set by shutdown: publishes may fail from then on
	pubMu   sync.Mutex  // held while publishing: the hub's numbers reach the feed in order

	mu       sync.Mutex
	rooms    map[string]map[string]int // room -> nick -> connections
	known    map[string]*roomUse       // rooms counted against MaxRooms
	opened   map[string]int            // remote IP -> rooms of known it opened
	sessions map[string]*session       // by inbox topic, at most MaxSessions
	byAddr   map[string]int            // remote IP -> sessions it made, at most MaxSessionsPerAddr
	swept    time.Time                 // when sessions unused for SessionKeep were last forgotten
	nicks    map[string]*session       // nickname -> the session that holds it
	addrs    map[string]*addrLimit     // remote IP -> its budget, at most MaxAddrs
	lastWS   string                    // ID of the last hub message
	lastFeed string                    // ID of the last feed event
}

// A member is one connection: its session, nickname, remote address and
// rooms. OnConnect attaches it to the connection's context (memberOf finds
// it); its rooms are guarded by chat.mu.
type member struct {
	sess  *session
	nick  string
	addr  string
	rooms []string
}

// memberKey is the context key of a connection's *member.
type memberKey struct{}

// memberOf returns the member of a connection, or nil for one that
// connect refused.
func memberOf(client *ws.Member) *member {
	m, _ := client.Conn().Context().Value(memberKey{}).(*member)
	return m
}

// newChat returns a chat whose hub and feed answer to allowedHosts
// (their AllowedHosts).
func newChat(allowedHosts ...string) *chat { return newChatBehind(nil, allowedHosts...) }

// newChatBehind returns a chat served behind the reverse proxies at the
// addresses trusted (see clientAddr), whose hub and feed answer to
// allowedHosts.
func newChatBehind(trusted []netip.Prefix, allowedHosts ...string) *chat {
	c := &chat{
		rooms:    make(map[string]map[string]int),
		known:    make(map[string]*roomUse),
		opened:   make(map[string]int),
		key:      newSessionKey(),
		sessions: make(map[string]*session),
		byAddr:   make(map[string]int),
		nicks:    make(map[string]*session),
		addrs:    make(map[string]*addrLimit),

		allowedHosts: allowedHosts,
		trusted:      trusted,
	}
	c.hub = newHub(c)
	c.feed = newFeed(c)
	return c
}

// newHub returns the WebSocket hub of c.
func newHub(c *chat) *ws.Hub {
	return ws.NewHub(ws.HubOptions{
		Conn:              ws.AcceptOptions{ReadLimit: MaxFrameBytes, AllowedHosts: c.allowedHosts, TrustedProxies: c.trusted},
		Topics:            c.topics,
		OnConnect:         c.connect,
		OnMessage:         c.message,
		OnClose:           c.closed,
		MaxTopics:         2*MaxRoomsPerConn + 1,
		MaxClientsPerAddr: MaxConnsPerAddr,
		ClientAddr:        c.clientAddr,
	})
}

// newFeed returns the SSE broker of c's read-only feed, with the epoch of
// c's hub (see publishBoth).
func newFeed(c *chat) *sse.Broker {
	return sse.NewBroker(sse.BrokerOptions{Topics: feedTopics, MaxClientsPerAddr: MaxConnsPerAddr, ClientAddr: c.clientAddr,
		AllowedHosts: c.allowedHosts, TrustedProxies: c.trusted, Epoch: c.hub.Epoch()})
}

// parseJoin reads the session token, nickname and rooms of a /ws request:
// /ws?session=TOKEN&nick=ann&room=general&room=random.
func parseJoin(r *http.Request) (token, nick string, rooms []string, err error) {
	q := r.URL.Query()
	token = q.Get("session")
	if !validSessionToken(token) {
		return "", "", nil, errNoSession
	}
	nick = q.Get("nick")
	if !validNick(nick) {
		return "", "", nil, errBadNick
	}
	rooms = q["room"]
	slices.Sort(rooms)
	rooms = slices.Compact(rooms)
	if len(rooms) > MaxRoomsPerConn {
		return "", "", nil, errTooMany
	}
	for _, room := range rooms {
		if !validRoom(room) {
			return "", "", nil, fmt.Errorf("%q: %w", room, errBadRoom)
		}
	}
	return token, nick, rooms, nil
}

// topics is the hub's Topics hook: a connection follows its rooms and its
// session's direct messages, nothing it names itself.
func (c *chat) topics(r *http.Request) ([]string, error) {
	token, _, rooms, err := parseJoin(r)
	if err != nil {
		return nil, &ws.StatusError{Code: http.StatusBadRequest, Err: err}
	}
	// Only check here: the request may still fail. The rooms are taken
	// once the connection is accepted, and paid for.
	c.mu.Lock()
	err = c.roomsAvailableLocked(rooms, c.clientAddr(r), time.Now())
	c.mu.Unlock()
	if err != nil {
		return nil, &ws.StatusError{Code: http.StatusServiceUnavailable, Err: err}
	}
	if !issuedSession(c.key, token) {
		// connect closes it with the reason, on which the page asks for
		// a new session; until then it follows nothing, and so resumes
		// nothing (the Hub sends no gap notice to a connection without
		// topics).
		return nil, nil
	}
	topics := []string{inboxTopic(token)}
	for _, room := range rooms {
		topics = append(topics, roomTopic(room), liveTopic(room))
	}
	return topics, nil
}

// feedTopics is the broker's Topics hook: /events?topic=ROOM.
func feedTopics(r *http.Request) ([]string, error) {
	rooms := r.URL.Query()["topic"]
	for _, room := range rooms {
		if !validRoom(room) {
			return nil, &sse.StatusError{Code: http.StatusBadRequest, Err: fmt.Errorf("%q: %w", room, errBadRoom)}
		}
	}
	return rooms, nil
}

// connect registers a new connection and welcomes it. It binds the
// nickname to the connection's session, or closes the connection when
// another session holds it.
func (c *chat) connect(client *ws.Member, r *http.Request) {
	token, nick, rooms, _ := parseJoin(r) // checked by topics
	if !issuedSession(c.key, token) {
		go client.Conn().Close(ws.StatusPolicyViolation, errNotIssued.Error())
		return
	}
	now := time.Now()
	c.mu.Lock()
	addr := c.clientAddr(r)
	// Connecting costs what a message costs, from the address's budget, so
	// that a reconnect loop is bounded as sending is.
	if !c.addrAllowLocked(addr, now) {
		c.mu.Unlock()
		go client.Conn().Close(ws.StatusTryAgainLater, errReconnecting.Error())
		return
	}
	inbox := inboxTopic(token)
	if holder := c.nicks[nick]; holder != nil && holder.inbox != inbox {
		c.mu.Unlock()
		go client.Conn().Close(ws.StatusPolicyViolation, fmt.Sprintf("%q: %s", nick, errNickTaken))
		return
	}
	if err := c.roomsAvailableLocked(rooms, addr, now); err != nil {
		c.mu.Unlock()
		go client.Conn().Close(ws.StatusTryAgainLater, err.Error())
		return
	}
	if s := c.sessions[inbox]; s != nil && s.nick != "" && s.nick != nick {
		if s.conns > 0 {
			// Its open connections speak as the old nickname, which would
			// be free for someone else to take.
			c.mu.Unlock()
			go client.Conn().Close(ws.StatusPolicyViolation, fmt.Sprintf("%q: %s", nick, errOtherNick))
			return
		}
		if c.nicks[s.nick] == s {
			delete(c.nicks, s.nick) // the session takes another nickname
		}
	}
	sess, err := c.sessionLocked(inbox, addr, now)
	if err != nil {
		c.mu.Unlock()
		go client.Conn().Close(ws.StatusTryAgainLater, err.Error())
		return
	}
	for _, room := range rooms {
		c.useRoomLocked(room, addr, now) // cannot fail: checked above
	}
	sess.nick = nick
	sess.conns++
	c.nicks[nick] = sess
	client.Conn().SetContext(context.WithValue(client.Conn().Context(), memberKey{}, &member{sess: sess, nick: nick, addr: addr, rooms: rooms}))
	var changed []string
	for _, room := range rooms {
		if c.enter(room, nick) {
			changed = append(changed, room)
		}
	}
	members := make(map[string][]string, len(rooms))
	counts := make(map[string]int, len(rooms))
	for _, room := range rooms {
		members[room], counts[room] = c.members(room, nick)
	}
	c.mu.Unlock()
	c.send(client, reply{Type: "welcome", Nick: nick, Rooms: rooms, Members: members, Counts: counts})
	for _, room := range changed {
		c.publishPresence(room, nick, "joined")
	}
}

// closed forgets a connection that ended.
func (c *chat) closed(client *ws.Member, err error) {
	m := memberOf(client)
	c.mu.Lock()
	var changed []string
	if m != nil {
		m.sess.conns--
		m.sess.lastUsed = time.Now()
		for _, room := range m.rooms {
			if c.exit(room, m.nick) {
				changed = append(changed, room)
			}
		}
	}
	c.mu.Unlock()
	for _, room := range changed {
		c.publishPresence(room, m.nick, "left")
	}
}

// sessionLocked returns the session with the inbox topic, made if need
// be for the remote address addr. A new session is refused when addr made
// MaxSessionsPerAddr of those remembered, or when there are MaxSessions:
// first it forgets the sessions with no connection unused for SessionKeep,
// with their nicknames, and never one used more recently. c.mu is held.
func (c *chat) sessionLocked(inbox, addr string, now time.Time) (*session, error) {
	if s := c.sessions[inbox]; s != nil {
		s.lastUsed = now
		return s, nil
	}
	full := func() error {
		switch {
		case len(c.sessions) >= MaxSessions:
			return errSessionsFull
		case c.byAddr[addr] >= MaxSessionsPerAddr:
			return errSessionsAddr
		}
		return nil
	}
	if full() != nil && now.Sub(c.swept) >= sessionSweep {
		c.forgetSessionsLocked(now)
	}
	if err := full(); err != nil {
		return nil, err
	}
	s := &session{inbox: inbox, addr: addr, lastUsed: now}
	c.sessions[inbox] = s
	c.byAddr[addr]++
	return s, nil
}

// sessionSweep is how often at most a full session table is searched for
// sessions to forget, so that a flood of refused sessions does not search
// it each time.
const sessionSweep = time.Minute

// forgetSessionsLocked forgets the sessions with no connection unused for
// SessionKeep, and the nicknames they held. c.mu is held.
func (c *chat) forgetSessionsLocked(now time.Time) {
	c.swept = now
	for inbox, s := range c.sessions {
		if s.conns > 0 || now.Sub(s.lastUsed) < SessionKeep {
			continue
		}
		delete(c.sessions, inbox)
		if c.nicks[s.nick] == s {
			delete(c.nicks, s.nick)
		}
		if c.byAddr[s.addr]--; c.byAddr[s.addr] <= 0 {
			delete(c.byAddr, s.addr)
		}
	}
}

// allowLocked reports whether m may send one more message now: its
// session and its remote address both have budget left. c.mu is held.
func (c *chat) allowLocked(m *member, now time.Time) bool {
	return m.sess.limit.allow(now, MessagesPerSecond, MessageBurst) && c.addrAllowLocked(m.addr, now)
}

// addrAllowLocked takes one message from the budget of the remote address
// addr. It keeps at most MaxAddrs addresses: to make room it forgets those
// whose budget is full again. c.mu is held.
func (c *chat) addrAllowLocked(addr string, now time.Time) bool {
	a := c.addrs[addr]
	if a == nil {
		if len(c.addrs) >= MaxAddrs {
			refill := time.Duration(float64(time.Second) * AddrMessageBurst / AddrMessagesPerSecond)
			for k, v := range c.addrs {
				if now.Sub(v.lastUsed) > refill {
					delete(c.addrs, k)
				}
			}
			if len(c.addrs) >= MaxAddrs {
				return false
			}
		}
		a = &addrLimit{}
		c.addrs[addr] = a
	}
	a.lastUsed = now
	return a.limit.allow(now, AddrMessagesPerSecond, AddrMessageBurst)
}

// A roomUse is a room counted against MaxRooms: when it was last used,
// and the remote address that opened it, whose MaxRoomsPerAddr it counts
// against.
type roomUse struct {
	last time.Time
	by   string
}

// roomsAvailableLocked reports why rooms cannot all be used now by the
// remote address addr, or nil if they can: opening those not in use would
// go past MaxRooms, or past MaxRoomsPerAddr for addr. c.mu is held.
func (c *chat) roomsAvailableLocked(rooms []string, addr string, now time.Time) error {
	unknown := 0
	for _, room := range rooms {
		if c.known[room] == nil {
			unknown++
		}
	}
	fits := func() error {
		switch {
		case len(c.known)+unknown > MaxRooms:
			return errRoomsFull
		case c.opened[addr]+unknown > MaxRoomsPerAddr:
			return errRoomsByAddr
		}
		return nil
	}
	if unknown == 0 || fits() == nil {
		return nil
	}
	c.forgetRoomsLocked(now)
	return fits()
}

// forgetRoomsLocked forgets the rooms nobody is in that were unused for
// roomForget. c.mu is held.
func (c *chat) forgetRoomsLocked(now time.Time) {
	for r, u := range c.known {
		if len(c.rooms[r]) == 0 && now.Sub(u.last) > roomForget {
			delete(c.known, r)
			if c.opened[u.by]--; c.opened[u.by] <= 0 {
				delete(c.opened, u.by)
			}
		}
	}
}

// useRoomLocked records that room is used now by the remote address addr,
// or reports why it may not be (see roomsAvailableLocked). c.mu is held.
func (c *chat) useRoomLocked(room, addr string, now time.Time) error {
	if u := c.known[room]; u != nil {
		u.last = now
		return nil
	}
	if err := c.roomsAvailableLocked([]string{room}, addr, now); err != nil {
		return err
	}
	c.known[room] = &roomUse{last: now, by: addr}
	c.opened[addr]++
	return nil
}

// enter counts one more connection of nick in room, and reports whether
// the room's members changed. c.mu is held.
func (c *chat) enter(room, nick string) bool {
	if c.rooms[room] == nil {
		c.rooms[room] = make(map[string]int)
	}
	c.rooms[room][nick]++
	return c.rooms[room][nick] == 1
}

// exit counts one connection of nick fewer in room, and reports whether
// the room's members changed. c.mu is held.
func (c *chat) exit(room, nick string) bool {
	n := c.rooms[room][nick] - 1
	if n > 0 {
		c.rooms[room][nick] = n
		return false
	}
	delete(c.rooms[room], nick)
	if len(c.rooms[room]) == 0 {
		delete(c.rooms, room)
	}
	return true
}

// members returns at most MaxMembersListed of the nicknames in room,
// self among them if it is there, sorted, and how many there are in all.
// It takes time in proportion to what it returns, not to the room's size,
// since it runs under c.mu. c.mu is held.
func (c *chat) members(room, self string) (listed []string, count int) {
	in := c.rooms[room]
	out := make([]string, 0, min(len(in), MaxMembersListed))
	if in[self] > 0 {
		out = append(out, self)
	}
	for nick := range in {
		if len(out) == MaxMembersListed {
			break
		}
		if nick != self {
			out = append(out, nick)
		}
	}
	slices.Sort(out)
	return out, len(in)
}

// message handles one message from a page.
func (c *chat) message(client *ws.Member, typ ws.MessageType, data []byte) {
	m := memberOf(client)
	c.mu.Lock()
	allowed := m != nil && c.allowLocked(m, time.Now())
	c.mu.Unlock()
	if m == nil {
		return
	}
	if !allowed {
		c.fail(client, codeRateLimited, errRateLimited)
		return
	}
	var cmd command
	if typ != ws.MessageText {
		c.fail(client, codeBadJSON, errors.New("send JSON text messages, not binary ones"))
		return
	}
	if err := json.Unmarshal(data, &cmd); err != nil {
		c.fail(client, codeBadJSON, fmt.Errorf("that message is not valid JSON: %w", err))
		return
	}
	switch cmd.Type {
	case "say":
		c.say(client, m, cmd)
	case "dm":
		c.dm(client, m, cmd)
	case "join":
		c.join(client, m, cmd.Room)
	case "leave":
		c.leave(client, m, cmd.Room)
	case "typing":
		if c.inRoom(client, m, cmd.Room) {
			c.publish(liveTopic(cmd.Room), event{Type: "typing", Room: cmd.Room, Nick: m.nick, Time: now()})
		}
	default:
		c.fail(client, codeBadCommand, fmt.Errorf("unknown message type %q: want say, dm, join, leave or typing", cmd.Type))
	}
}

func (c *chat) say(client *ws.Member, m *member, cmd command) {
	if !c.inRoom(client, m, cmd.Room) || !c.checkText(client, cmd.Text) {
		return
	}
	c.mu.Lock()
	if u := c.known[cmd.Room]; u != nil {
		u.last = time.Now()
	}
	c.mu.Unlock()
	e := event{Type: "message", Room: cmd.Room, From: m.nick, Text: cmd.Text, Time: now()}
	c.publishRoom(cmd.Room, e)
}

func (c *chat) dm(client *ws.Member, m *member, cmd command) {
	if !validNick(cmd.To) {
		c.fail(client, codeBadNick, fmt.Errorf("%q: %w", cmd.To, errBadNick))
		return
	}
	if !c.checkText(client, cmd.Text) {
		return
	}
	c.mu.Lock()
	to := c.nicks[cmd.To]
	c.mu.Unlock()
	if to == nil {
		c.fail(client, codeUnknownNick, fmt.Errorf("%q: %w", cmd.To, errUnknownNick))
		return
	}
	e := event{Type: "dm", From: m.nick, To: cmd.To, Text: cmd.Text, Time: now()}
	// The recipient's copy, and the sender's for their other connections.
	if c.publish(to.inbox, e) && to != m.sess {
		c.publish(m.sess.inbox, e)
	}
}

func (c *chat) join(client *ws.Member, m *member, room string) {
	if !validRoom(room) {
		c.fail(client, codeBadRoom, fmt.Errorf("%q: %w", room, errBadRoom))
		return
	}
	c.mu.Lock()
	if slices.Contains(m.rooms, room) {
		c.mu.Unlock()
		return
	}
	if len(m.rooms) >= MaxRoomsPerConn {
		c.mu.Unlock()
		c.fail(client, codeTooMany, errTooMany)
		return
	}
	if err := c.useRoomLocked(room, m.addr, time.Now()); err != nil {
		c.mu.Unlock()
		c.fail(client, codeRoomsFull, err)
		return
	}
	if err := client.Join(roomTopic(room), liveTopic(room)); err != nil {
		c.mu.Unlock()
		c.fail(client, codeUnavailable, err)
		return
	}
	m.rooms = append(m.rooms, room)
	slices.Sort(m.rooms)
	changed := c.enter(room, m.nick)
	members, count := c.members(room, m.nick)
	c.mu.Unlock()
	// The page learns who is there once; changes follow as presence events.
	c.send(client, reply{Type: "members", Members: map[string][]string{room: members}, Counts: map[string]int{room: count}})
	c.publish(roomTopic(room), event{Type: "notice", Room: room, Nick: m.nick, Event: "joined", Time: now()})
	if changed {
		c.publishPresence(room, m.nick, "joined")
	}
}

func (c *chat) leave(client *ws.Member, m *member, room string) {
	if !c.inRoom(client, m, room) {
		return
	}
	c.mu.Lock()
	client.Leave(roomTopic(room), liveTopic(room))
	m.rooms = slices.DeleteFunc(m.rooms, func(r string) bool { return r == room })
	changed := c.exit(room, m.nick)
	c.mu.Unlock()
	c.publish(roomTopic(room), event{Type: "notice", Room: room, Nick: m.nick, Event: "left", Time: now()})
	if changed {
		c.publishPresence(room, m.nick, "left")
	}
}

// inRoom reports whether m is in room, and answers the page when not.
func (c *chat) inRoom(client *ws.Member, m *member, room string) bool {
	if !validRoom(room) {
		c.fail(client, codeBadRoom, fmt.Errorf("%q: %w", room, errBadRoom))
		return false
	}
	c.mu.Lock()
	in := slices.Contains(m.rooms, room)
	c.mu.Unlock()
	if !in {
		c.fail(client, codeNotInRoom, fmt.Errorf("#%s: %w", room, errNotInRoom))
	}
	return in
}

// checkText reports whether text can be sent, and answers the page when
// not.
func (c *chat) checkText(client *ws.Member, text string) bool {
	switch err := checkText(text); {
	case errors.Is(err, errTooLong):
		c.fail(client, codeTooLong, err)
	case err != nil:
		c.fail(client, codeEmpty, err)
	default:
		return true
	}
	return false
}

// publishPresence tells the pages in room that nick came ("joined") or
// went ("left"): a change, not the whole list, which each page got once.
func (c *chat) publishPresence(room, nick, change string) {
	c.publish(liveTopic(room), event{Type: "presence", Room: room, Nick: nick, Event: change, Time: now()})
}

// One ID on both transports. A room message goes to the hub (for the chat
// pages) and to the feed (for EventSource): both give it the same ID, so
// that a client can tell it is the same message, and a page that moves
// from one to the other can resume with the ID it has. The hub numbers
// every event; the feed, which shares its epoch, takes the same number
// with PublishAt. The feed must be told every number, not only those of
// room messages: a number it never applied is a gap for its streams (see
// sse.Broker.PublishAt). So every other event of the hub is a mark on the
// feed, an empty event on feedMarks, a topic no page can follow, bounded
// as any topic's history is. c.pubMu keeps the numbers in order.

// feedMarks is the feed's topic of the numbers of events that are not
// room messages. It is not a room name, so no page can follow it.
const feedMarks = "-"

// publish sends e to the pages following topic, and reports whether it
// could.
func (c *chat) publish(topic string, e event) bool {
	return c.publishBoth(topic, "", e)
}

// publishRoom sends the room message e to the pages in room and to the
// feed of room, with one ID, and reports whether it could.
func (c *chat) publishRoom(room string, e event) bool {
	return c.publishBoth(roomTopic(room), room, e)
}

// publishBoth publishes e to topic on the hub, and with the same number
// to the feed: to room, or as a mark when room is "".
func (c *chat) publishBoth(topic, room string, e event) bool {
	data, _ := json.Marshal(e) // cannot fail
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	id, err := c.hub.PublishJSON(topic, json.RawMessage(data))
	if err != nil {
		if !c.closing.Load() {
			slog.Error("publish", "topic", topic, "err", err)
		}
		return false
	}
	feedTopic, fe := feedMarks, sse.Event{}
	if room != "" {
		feedTopic, fe = room, sse.Event{Data: string(data)}
	}
	feedID, ferr := c.feed.PublishAt(seqOf(id), feedTopic, fe)
	if ferr != nil && !c.closing.Load() {
		slog.Error("publish to the feed", "topic", feedTopic, "err", ferr)
	}
	c.mu.Lock()
	c.lastWS = id
	if ferr == nil && room != "" {
		c.lastFeed = feedID
	}
	c.mu.Unlock()
	return true
}

// seqOf returns the sequence number of the ID "epoch-seq".
func seqOf(id string) uint64 {
	seq, _ := strconv.ParseUint(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
	return seq
}

// send writes a reply to one connection.
func (c *chat) send(client *ws.Member, r reply) {
	data, _ := json.Marshal(r) // cannot fail
	client.Send(ws.MessageText, data)
}

// fail tells a page what was wrong with what it sent.
func (c *chat) fail(client *ws.Member, code string, err error) {
	c.send(client, reply{Type: "error", Code: code, Error: err.Error()})
}

func now() int64 { return time.Now().UnixMilli() }
