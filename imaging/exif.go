package imaging

import "encoding/binary"

// jpegOrientation returns the EXIF Orientation (1..8) of a JPEG file, or 1
// when it has none or it cannot be read.
//
// It walks the JPEG marker segments (ITU-T T.81 B.1) up to the start of
// scan, and in the first APP1 segment that begins "Exif\0\0" reads the
// TIFF header (byte order "II" or "MM", the number 42, the offset of IFD0)
// and IFD0's entries (tag, type, count, value: 12 bytes each) looking for
// tag 0x0112 of type SHORT (EXIF 2.3 section 4.6.4, TIFF 6.0 section 2).
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return 1
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0xD9 || m == 0xDA: // end of image, start of scan
			return 1
		case m == 0x01 || m >= 0xD0 && m <= 0xD7: // no length field
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		seg := data[i+4 : i+2+n]
		if m == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads the Orientation tag from IFD0 of a TIFF structure.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 1
	}
	n := int64(bo.Uint16(t[off:]))
	for k := int64(0); k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		var v uint32
		switch typ := bo.Uint16(t[e+2:]); typ {
		case 3: // SHORT, stored in the first two bytes of the value field
			v = uint32(bo.Uint16(t[e+8:]))
		case 4: // LONG, tolerated
			v = bo.Uint32(t[e+8:])
		default:
			return 1
		}
		if v >= 1 && v <= 8 {
			return int(v)
		}
		return 1
	}
	return 1
}
