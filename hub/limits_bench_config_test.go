package hub

// liftedLimits is an app without the per-app channel and presence limits.
var liftedLimits = AppConfig{MaxChannelsPerConnection: NoLimit, MaxPresenceMembersPerChannel: NoLimit, MaxPresenceMemberSize: NoLimit}

// subscribableOf is how many of n channels one socket of a may hold.
func subscribableOf(a *App, n int) int {
	if max := a.MaxChannelsPerConnection; max > 0 {
		return min(n, max)
	}
	return n
}
