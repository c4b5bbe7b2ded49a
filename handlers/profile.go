package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dingfluence/dingfluence/views"
)

// profile shows the signed-in person's own account; nobody else's can be
// reached from here.
func (h *Handlers) profile(c echo.Context) error {
	u := currentUser(c)
	return render(c, http.StatusOK, views.Profile(h.page(c, "profile.title", ""), views.ProfileView{
		Username: u.Username, DisplayName: u.DisplayName, Email: u.Email,
	}))
}
