"""Work that spans episodes: suites, runners, metrics, statistics, reports and rollout videos."""
