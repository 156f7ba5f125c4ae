// Command floor is the benchmark's baseline: a bare echo handler that answers
// every POST with a constant accept instruction, with no signature check,
// no parsing and no policy. Nothing assignd does can be faster.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/labstack/echo/v4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	flag.Parse()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	answer := []byte(`{"instruction":"accept"}`)
	e.POST("/assignment", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, answer)
	})
	log.Fatal(http.ListenAndServe(*addr, e))
}
