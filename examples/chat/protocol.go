package main

// The JSON messages of the chat, documented in README.md.

// A command is what a page sends over /ws.
type command struct {
	Type string `json:"type"`           // "say", "dm", "join", "leave" or "typing"
	Room string `json:"room,omitempty"` // say, join, leave, typing
	To   string `json:"to,omitempty"`   // dm
	Text string `json:"text,omitempty"` // say, dm
}

// An event is what the server publishes to a topic: the data of a ws
// envelope. Room topics are "#room" (messages and join/leave notices, kept
// in history for resume) and "~room" (presence and typing); a session's
// inbox, "@" and a hash of its token, has the direct messages to and from
// it.
type event struct {
	Type  string `json:"type"` // "message", "dm", "notice", "presence" or "typing"
	Room  string `json:"room,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	Nick  string `json:"nick,omitempty"`  // notice, presence, typing
	Event string `json:"event,omitempty"` // notice, presence: "joined" or "left"
	Text  string `json:"text,omitempty"`
	Time  int64  `json:"time"` // Unix milliseconds
}

// A reply goes to one connection only, outside the envelope and history.
type reply struct {
	Type    string              `json:"type"`              // "welcome", "members" or "error"
	Nick    string              `json:"nick,omitempty"`    // welcome
	Rooms   []string            `json:"rooms,omitempty"`   // welcome
	Members map[string][]string `json:"members,omitempty"` // welcome, members: room -> nicks, at most MaxMembersListed
	Counts  map[string]int      `json:"counts,omitempty"`  // welcome, members: room -> how many are there
	Code    string              `json:"code,omitempty"`    // error
	Error   string              `json:"error,omitempty"`   // error: for people
}

// Error codes of replies.
const (
	codeBadJSON     = "bad_json"
	codeBadCommand  = "bad_command"
	codeBadRoom     = "bad_room"
	codeBadNick     = "bad_nick"
	codeTooLong     = "too_long"
	codeEmpty       = "empty"
	codeTooMany     = "too_many_rooms"
	codeNotInRoom   = "not_in_room"
	codeRateLimited = "rate_limited"
	codeUnavailable = "unavailable"
	codeUnknownNick = "unknown_nick"
	codeRoomsFull   = "rooms_full"
)

func roomTopic(room string) string { return "#" + room }
func liveTopic(room string) string { return "~" + room }
