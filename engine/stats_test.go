package engine

import "testing"

func TestCloseCodesShareOtherOnlyWhenUnknown(t *testing.T) {
	seen := map[int]bool{}
	for _, c := range closeCodes {
		slot := closeSlot(c)
		if slot == otherCloseSlot || seen[slot] {
			t.Errorf("code %d: slot %d (taken or other)", c, slot)
		}
		seen[slot] = true
	}
	for _, c := range []uint16{0, 1004, 3000, 4999} {
		if closeSlot(c) != otherCloseSlot {
			t.Errorf("code %d has its own slot", c)
		}
	}
}

func TestCloseCodeKeepsTheFirst(t *testing.T) {
	cn := &conn{}
	cn.setCloseCode(4200)
	if cn.closeCode != 0 {
		t.Fatal("a connection without a session got a close code")
	}
	cn.closeCode = 1006
	cn.setCloseCode(4009)
	cn.setCloseCode(1000)
	if cn.closeCode != 4009 {
		t.Fatalf("close code %d, want the first one sent (4009)", cn.closeCode)
	}
}
