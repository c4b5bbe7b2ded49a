package profile

import (
	"errors"
	"slices"
	"testing"

	"github.com/dingfluence/dingfluence/models"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		in     Input
		mobile string // as typed
		want   []FieldError
	}{
		{"e-mail without a mobile", Input{MatchingMethod: models.MatchEmail}, "", nil},
		{"job number", Input{MatchingMethod: models.MatchJobNumber}, "", nil},
		{"mobile", Input{MatchingMethod: models.MatchMobile}, "13800000001", nil},
		{"mobile with spaces", Input{MatchingMethod: models.MatchMobile}, " 138 0000 0001 ", nil},
		{"mobile with a country code", Input{MatchingMethod: models.MatchMobile}, "+86 13800000001", nil},
		{"mobile with a country code and a dash", Input{MatchingMethod: models.MatchMobile}, "+852-61234567", nil},
		{"mobile method without a mobile", Input{MatchingMethod: models.MatchMobile}, "  ", []FieldError{{FieldMobile, CodeRequired}}},
		{"letters", Input{MatchingMethod: models.MatchMobile}, "138abc00001", []FieldError{{FieldMobile, CodeInvalid}}},
		{"too short", Input{MatchingMethod: models.MatchMobile}, "1234", []FieldError{{FieldMobile, CodeInvalid}}},
		{"too long", Input{MatchingMethod: models.MatchMobile}, "1234567890123456", []FieldError{{FieldMobile, CodeInvalid}}},
		{"a plus in the middle", Input{MatchingMethod: models.MatchMobile}, "138+00000001", []FieldError{{FieldMobile, CodeInvalid}}},
		{"a bad mobile is refused whatever the method", Input{MatchingMethod: models.MatchEmail}, "call me", []FieldError{{FieldMobile, CodeInvalid}}},
		{"unknown method", Input{MatchingMethod: "fax"}, "", []FieldError{{FieldMatchingMethod, CodeInvalid}}},
		{"no method", Input{}, "", []FieldError{{FieldMatchingMethod, CodeInvalid}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Mobile = NormalizeMobile(tt.mobile)
			err := Validate(in)
			var got ValidationError
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("Validate = %v, not a ValidationError", err)
			}
			if !slices.Equal([]FieldError(got), tt.want) {
				t.Errorf("Validate(%+v) = %v, want %v", in, got, tt.want)
			}
		})
	}
}
