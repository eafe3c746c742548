package main

import (
	"slices"
	"testing"
	"time"
)

func TestBurstStarts(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var s []idleSample
	for _, v := range []int{1, 0, 23, 49, 35, 2, 1, 11, 1, 30} {
		s = append(s, idleSample{self: ms(v)})
	}
	got := burstStarts(s)
	want := []time.Duration{200 * time.Millisecond, 700 * time.Millisecond, 900 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Errorf("burstStarts = %v, want %v", got, want)
	}
}

func TestPeriod(t *testing.T) {
	one := &idleReport{bursts: []time.Duration{2 * time.Second}}
	if got := one.period(); got != seatCheckPeriod {
		t.Errorf("one burst: period %v, want %v", got, seatCheckPeriod)
	}
	many := &idleReport{bursts: []time.Duration{300 * time.Millisecond, 800 * time.Millisecond, 1300 * time.Millisecond, 1900 * time.Millisecond}}
	if got, want := many.period(), 1600*time.Millisecond/3; got != want {
		t.Errorf("four bursts: period %v, want %v", got, want)
	}
}
