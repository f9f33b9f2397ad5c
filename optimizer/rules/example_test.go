package rules_test

import (
	"fmt"
	"time"

	"github.com/krystalstack/gamesa/optimizer/rules"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The default rules on a laptop on battery, a game in front and the
// thermal model forecasting 91.2 °C.
func Example() {
	schema, err := rules.NewSchema(rules.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	rs, err := rules.Default(schema)
	if err != nil {
		fmt.Println(err)
		return
	}
	engine := rules.NewEngine(rs)
	sample := &gamesav1.Sample{
		Power:    &gamesav1.Power{OnAc: false, Batteries: []*gamesav1.Battery{{CapacityPercent: 15, Status: "Discharging"}}},
		Insights: &gamesav1.Insights{ThermalForecast: []*gamesav1.ThermalForecast{{HorizonSeconds: 30, Celsius: 91.2}}},
	}
	f := schema.NewFeatures()
	schema.Extract(f, sample, rules.Apps{Foreground: "game", Running: []string{"game"}})
	res := engine.Evaluate(f, time.Unix(1_700_000_000, 0))
	for _, fr := range res.Fired() {
		fmt.Println(fr.Reason())
	}
	mode, _ := res.Mode()
	capW, _ := res.CapWatts()
	fmt.Println("mode", mode, "cap", capW, "W")
	for _, a := range res.PlanActions() {
		fmt.Println(a.Knob, a.Target, a.Value)
	}
	// Output:
	// rule low-battery: power.on_ac false == false, power.battery_percent 15 < 20
	// rule thermal-forecast-cap: thermal.forecast_30s 91.2 >= 90
	// rule game-foreground: app.foreground.class game == game
	// mode MAX_BATTERY cap 35 W
}
