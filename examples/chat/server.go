package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
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
	allowedHosts []string // the hub's and feed's AllowedHosts

	closing atomic.Bool // set by shutdown: publishes may fail from then on

	mu       sync.Mutex
	rooms    map[string]map[string]int // room -> nick -> connections
	known    map[string]*roomUse       // rooms counted against MaxRooms
	opened   map[string]int            // remote IP -> rooms of known it opened
	sessions map[string]*session       // by inbox topic, at most MaxSessions
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
func memberOf(conn *ws.Conn) *member {
	m, _ := conn.Context().Value(memberKey{}).(*member)
	return m
}

// newChat returns a chat whose hub and feed answer to allowedHosts
// (their AllowedHosts).
func newChat(allowedHosts ...string) *chat {
	c := &chat{
		rooms:    make(map[string]map[string]int),
		known:    make(map[string]*roomUse),
		opened:   make(map[string]int),
		sessions: make(map[string]*session),
		nicks:    make(map[string]*session),
		addrs:    make(map[string]*addrLimit),

		allowedHosts: allowedHosts,
	}
	c.hub, c.feed = newHub(c), newFeed(c)
	return c
}

// newHub returns the WebSocket hub of c.
func newHub(c *chat) *ws.Hub {
	return ws.NewHub(ws.HubOptions{
		Conn:              ws.AcceptOptions{ReadLimit: MaxFrameBytes, AllowedHosts: c.allowedHosts},
		Topics:            c.topics,
		OnConnect:         c.connect,
		OnMessage:         c.message,
		OnClose:           c.closed,
		MaxTopics:         2*MaxRoomsPerConn + 1,
		MaxClientsPerAddr: MaxConnsPerAddr,
	})
}

// newFeed returns the SSE broker of c's read-only feed.
func newFeed(c *chat) *sse.Broker {
	return sse.NewBroker(sse.BrokerOptions{Topics: feedTopics, MaxClientsPerAddr: MaxConnsPerAddr, AllowedHosts: c.allowedHosts})
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
	err = c.roomsAvailableLocked(rooms, remoteHost(r.RemoteAddr), time.Now())
	c.mu.Unlock()
	if err != nil {
		return nil, &ws.StatusError{Code: http.StatusServiceUnavailable, Err: err}
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
func (c *chat) connect(conn *ws.Conn, r *http.Request) {
	token, nick, rooms, _ := parseJoin(r) // checked by topics
	now := time.Now()
	c.mu.Lock()
	addr := remoteIP(conn.RemoteAddr())
	// Connecting costs what a message costs, from the address's budget, so
	// that a reconnect loop is bounded as sending is.
	if !c.addrAllowLocked(addr, now) {
		c.mu.Unlock()
		go conn.Close(ws.StatusTryAgainLater, errReconnecting.Error())
		return
	}
	sess := c.sessionLocked(inboxTopic(token), now)
	if sess == nil {
		c.mu.Unlock()
		go conn.Close(ws.StatusTryAgainLater, errSessionsFull.Error())
		return
	}
	if holder := c.nicks[nick]; holder != nil && holder != sess {
		c.mu.Unlock()
		go conn.Close(ws.StatusPolicyViolation, fmt.Sprintf("%q: %s", nick, errNickTaken))
		return
	}
	if err := c.roomsAvailableLocked(rooms, addr, now); err != nil {
		c.mu.Unlock()
		go conn.Close(ws.StatusTryAgainLater, err.Error())
		return
	}
	if sess.nick != "" && sess.nick != nick {
		if sess.conns > 0 {
			// Its open connections speak as the old nickname, which would
			// be free for someone else to take.
			c.mu.Unlock()
			go conn.Close(ws.StatusPolicyViolation, fmt.Sprintf("%q: %s", nick, errOtherNick))
			return
		}
		if c.nicks[sess.nick] == sess {
			delete(c.nicks, sess.nick) // the session takes another nickname
		}
	}
	for _, room := range rooms {
		c.useRoomLocked(room, addr, now) // cannot fail: checked above
	}
	sess.nick = nick
	sess.conns++
	c.nicks[nick] = sess
	conn.SetContext(context.WithValue(conn.Context(), memberKey{}, &member{sess: sess, nick: nick, addr: addr, rooms: rooms}))
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
	c.send(conn, reply{Type: "welcome", Nick: nick, Rooms: rooms, Members: members, Counts: counts})
	for _, room := range changed {
		c.publishPresence(room, nick, "joined")
	}
}

// closed forgets a connection that ended.
func (c *chat) closed(conn *ws.Conn, err error) {
	m := memberOf(conn)
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
// be, or nil when MaxSessions sessions have connections. To make room it
// forgets the session unused longest among those with no connection, and
// the nickname it held. c.mu is held.
func (c *chat) sessionLocked(inbox string, now time.Time) *session {
	if s := c.sessions[inbox]; s != nil {
		s.lastUsed = now
		return s
	}
	if len(c.sessions) >= MaxSessions {
		var oldest *session
		for _, s := range c.sessions {
			if s.conns == 0 && (oldest == nil || s.lastUsed.Before(oldest.lastUsed)) {
				oldest = s
			}
		}
		if oldest == nil {
			return nil
		}
		delete(c.sessions, oldest.inbox)
		if c.nicks[oldest.nick] == oldest {
			delete(c.nicks, oldest.nick)
		}
	}
	s := &session{inbox: inbox, lastUsed: now}
	c.sessions[inbox] = s
	return s
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
func (c *chat) message(conn *ws.Conn, typ ws.MessageType, data []byte) {
	m := memberOf(conn)
	c.mu.Lock()
	allowed := m != nil && c.allowLocked(m, time.Now())
	c.mu.Unlock()
	if m == nil {
		return
	}
	if !allowed {
		c.fail(conn, codeRateLimited, errRateLimited)
		return
	}
	var cmd command
	if typ != ws.MessageText {
		c.fail(conn, codeBadJSON, errors.New("send JSON text messages, not binary ones"))
		return
	}
	if err := json.Unmarshal(data, &cmd); err != nil {
		c.fail(conn, codeBadJSON, fmt.Errorf("that message is not valid JSON: %w", err))
		return
	}
	switch cmd.Type {
	case "say":
		c.say(conn, m, cmd)
	case "dm":
		c.dm(conn, m, cmd)
	case "join":
		c.join(conn, m, cmd.Room)
	case "leave":
		c.leave(conn, m, cmd.Room)
	case "typing":
		if c.inRoom(conn, m, cmd.Room) {
			c.publish(liveTopic(cmd.Room), event{Type: "typing", Room: cmd.Room, Nick: m.nick, Time: now()})
		}
	default:
		c.fail(conn, codeBadCommand, fmt.Errorf("unknown message type %q: want say, dm, join, leave or typing", cmd.Type))
	}
}

func (c *chat) say(conn *ws.Conn, m *member, cmd command) {
	if !c.inRoom(conn, m, cmd.Room) || !c.checkText(conn, cmd.Text) {
		return
	}
	c.mu.Lock()
	if u := c.known[cmd.Room]; u != nil {
		u.last = time.Now()
	}
	c.mu.Unlock()
	e := event{Type: "message", Room: cmd.Room, From: m.nick, Text: cmd.Text, Time: now()}
	if c.publish(roomTopic(cmd.Room), e) {
		c.publishFeed(cmd.Room, e)
	}
}

func (c *chat) dm(conn *ws.Conn, m *member, cmd command) {
	if !validNick(cmd.To) {
		c.fail(conn, codeBadNick, fmt.Errorf("%q: %w", cmd.To, errBadNick))
		return
	}
	if !c.checkText(conn, cmd.Text) {
		return
	}
	c.mu.Lock()
	to := c.nicks[cmd.To]
	c.mu.Unlock()
	if to == nil {
		c.fail(conn, codeUnknownNick, fmt.Errorf("%q: %w", cmd.To, errUnknownNick))
		return
	}
	e := event{Type: "dm", From: m.nick, To: cmd.To, Text: cmd.Text, Time: now()}
	// The recipient's copy, and the sender's for their other connections.
	if c.publish(to.inbox, e) && to != m.sess {
		c.publish(m.sess.inbox, e)
	}
}

func (c *chat) join(conn *ws.Conn, m *member, room string) {
	if !validRoom(room) {
		c.fail(conn, codeBadRoom, fmt.Errorf("%q: %w", room, errBadRoom))
		return
	}
	c.mu.Lock()
	if slices.Contains(m.rooms, room) {
		c.mu.Unlock()
		return
	}
	if len(m.rooms) >= MaxRoomsPerConn {
		c.mu.Unlock()
		c.fail(conn, codeTooMany, errTooMany)
		return
	}
	if err := c.useRoomLocked(room, m.addr, time.Now()); err != nil {
		c.mu.Unlock()
		c.fail(conn, codeRoomsFull, err)
		return
	}
	if err := conn.Join(roomTopic(room), liveTopic(room)); err != nil {
		c.mu.Unlock()
		c.fail(conn, codeUnavailable, err)
		return
	}
	m.rooms = append(m.rooms, room)
	slices.Sort(m.rooms)
	changed := c.enter(room, m.nick)
	members, count := c.members(room, m.nick)
	c.mu.Unlock()
	// The page learns who is there once; changes follow as presence events.
	c.send(conn, reply{Type: "members", Members: map[string][]string{room: members}, Counts: map[string]int{room: count}})
	c.publish(roomTopic(room), event{Type: "notice", Room: room, Nick: m.nick, Event: "joined", Time: now()})
	if changed {
		c.publishPresence(room, m.nick, "joined")
	}
}

func (c *chat) leave(conn *ws.Conn, m *member, room string) {
	if !c.inRoom(conn, m, room) {
		return
	}
	c.mu.Lock()
	conn.Leave(roomTopic(room), liveTopic(room))
	m.rooms = slices.DeleteFunc(m.rooms, func(r string) bool { return r == room })
	changed := c.exit(room, m.nick)
	c.mu.Unlock()
	c.publish(roomTopic(room), event{Type: "notice", Room: room, Nick: m.nick, Event: "left", Time: now()})
	if changed {
		c.publishPresence(room, m.nick, "left")
	}
}

// inRoom reports whether m is in room, and answers the page when not.
func (c *chat) inRoom(conn *ws.Conn, m *member, room string) bool {
	if !validRoom(room) {
		c.fail(conn, codeBadRoom, fmt.Errorf("%q: %w", room, errBadRoom))
		return false
	}
	c.mu.Lock()
	in := slices.Contains(m.rooms, room)
	c.mu.Unlock()
	if !in {
		c.fail(conn, codeNotInRoom, fmt.Errorf("#%s: %w", room, errNotInRoom))
	}
	return in
}

// checkText reports whether text can be sent, and answers the page when
// not.
func (c *chat) checkText(conn *ws.Conn, text string) bool {
	switch err := checkText(text); {
	case errors.Is(err, errTooLong):
		c.fail(conn, codeTooLong, err)
	case err != nil:
		c.fail(conn, codeEmpty, err)
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

// publish sends e to the pages following topic, and reports whether it
// could.
func (c *chat) publish(topic string, e event) bool {
	id, err := c.hub.PublishJSON(topic, e)
	if err != nil {
		if !c.closing.Load() {
			slog.Error("publish", "topic", topic, "err", err)
		}
		return false
	}
	c.mu.Lock()
	c.lastWS = id
	c.mu.Unlock()
	return true
}

// publishFeed sends a room message to the read-only feed.
func (c *chat) publishFeed(room string, e event) {
	data, _ := json.Marshal(e) // cannot fail
	id, err := c.feed.Publish(room, sse.Event{Data: string(data)})
	if err != nil {
		if !c.closing.Load() {
			slog.Error("publish to the feed", "room", room, "err", err)
		}
		return
	}
	c.mu.Lock()
	c.lastFeed = id
	c.mu.Unlock()
}

// send writes a reply to one connection.
func (c *chat) send(conn *ws.Conn, r reply) {
	data, _ := json.Marshal(r) // cannot fail
	conn.Send(ws.MessageText, data)
}

// fail tells a page what was wrong with what it sent.
func (c *chat) fail(conn *ws.Conn, code string, err error) {
	c.send(conn, reply{Type: "error", Code: code, Error: err.Error()})
}

func now() int64 { return time.Now().UnixMilli() }
