package api

import (
	"bytes"
	"context"
	"regexp"
	"strconv"

	json "github.com/goccy/go-json"
	"github.com/resound/resound/hub"
	"github.com/resound/resound/protocol"
	"github.com/valyala/fasthttp"
)

// eventRequest is one event in /events or /batch_events.
type eventRequest struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channel  string          `json:"channel"`
	Channels []string        `json:"channels"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

var socketIDPattern = regexp.MustCompile(`^\d+\.\d+$`)

// check validates an event and returns its channels and data string.
func (e *eventRequest) check(app *hub.App) ([]string, string, *apiError) {
	if !protocol.ValidEventName(e.Name) {
		return nil, "", fail(422, "Invalid \"name\": a non-empty event name of at most "+strconv.Itoa(protocol.MaxEventNameLength)+" characters is required")
	}
	data := bytes.TrimSpace(e.Data)
	if len(data) == 0 {
		return nil, "", fail(422, "Missing \"data\": send the event payload as a string")
	}
	var dataStr string
	if data[0] == '"' {
		if err := json.Unmarshal(data, &dataStr); err != nil {
			return nil, "", fail(422, "Invalid \"data\": not a JSON string")
		}
	} else {
		dataStr = string(data) // an object is accepted and sent as its JSON text
	}
	if len(dataStr) > app.MaxEventDataSize {
		return nil, "", fail(413, "Event data too large: "+strconv.Itoa(len(dataStr))+" bytes, this app's max_event_data_size is "+strconv.Itoa(app.MaxEventDataSize))
	}
	channels := e.Channels
	if e.Channel != "" {
		channels = append(channels, e.Channel)
	}
	if len(channels) == 0 {
		return nil, "", fail(422, "Missing \"channels\": name at least one channel")
	}
	if len(channels) > app.MaxChannelsPerEvent {
		return nil, "", fail(413, "Too many channels: "+strconv.Itoa(len(channels))+", the limit is "+strconv.Itoa(app.MaxChannelsPerEvent)+" per event")
	}
	for _, c := range channels {
		if !protocol.ValidChannelName(c) {
			return nil, "", fail(422, "Invalid channel name "+strconv.Quote(c)+": "+protocol.ChannelNameRule(c))
		}
	}
	if e.SocketID != "" && !socketIDPattern.MatchString(e.SocketID) {
		return nil, "", fail(422, "Invalid \"socket_id\": expected digits.digits as pusher-js reports it")
	}
	return channels, dataStr, nil
}

func decodeBody(req *fasthttp.Request, v any) *apiError {
	body := req.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return fail(400, "Empty body: send a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fail(400, "Malformed JSON body: "+firstLine(err.Error()))
	}
	return nil
}

// publish hands events to the bus and reports whether it took them.
func publish(ctx context.Context, app *hub.App, events []hub.Event) *apiError {
	if err := app.Publish(ctx, events); err != nil {
		return notPublished(err)
	}
	return nil
}

func (a *API) events(req *fasthttp.Request, app *hub.App, _ []string) (busCall, *apiError) {
	var e eventRequest
	if err := decodeBody(req, &e); err != nil {
		return nil, err
	}
	channels, data, err := e.check(app)
	if err != nil {
		return nil, err
	}
	events := []hub.Event{{Name: e.Name, Data: data, Channels: channels, ExceptSocket: e.SocketID}}
	return func(ctx context.Context) (any, *apiError) {
		if err := publish(ctx, app, events); err != nil {
			return nil, err
		}
		if e.Info == "" {
			return struct{}{}, nil
		}
		return map[string]any{"channels": channelsInfo(ctx, app, channels, e.Info)}, nil
	}, nil
}

func (a *API) batchEvents(req *fasthttp.Request, app *hub.App, _ []string) (busCall, *apiError) {
	var b struct {
		Batch []eventRequest `json:"batch"`
	}
	if err := decodeBody(req, &b); err != nil {
		return nil, err
	}
	if len(b.Batch) > app.MaxBatchSize {
		return nil, fail(413, "Batch too large: "+strconv.Itoa(len(b.Batch))+" events, the limit is "+strconv.Itoa(app.MaxBatchSize))
	}
	events := make([]hub.Event, len(b.Batch))
	wantInfo := false
	for i, e := range b.Batch {
		ch, data, err := e.check(app)
		if err != nil {
			err.msg = "batch[" + strconv.Itoa(i) + "]: " + err.msg
			return nil, err
		}
		events[i] = hub.Event{Name: e.Name, Data: data, Channels: ch, ExceptSocket: e.SocketID}
		wantInfo = wantInfo || e.Info != ""
	}
	return func(ctx context.Context) (any, *apiError) {
		if err := publish(ctx, app, events); err != nil {
			return nil, err
		}
		if !wantInfo {
			return map[string]any{"batch": struct{}{}}, nil
		}
		out := make([]map[string]any, len(b.Batch))
		for i, e := range b.Batch {
			out[i] = map[string]any{}
			if e.Info != "" {
				first := events[i].Channels[0]
				out[i] = channelsInfo(ctx, app, events[i].Channels[:1], e.Info)[first]
			}
		}
		return map[string]any{"batch": out}, nil
	}, nil
}
