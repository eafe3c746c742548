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
