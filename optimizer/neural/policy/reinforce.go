package policy

import (
	"fmt"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Env is a machine the policy can be trained against: the simulated
// machine in tests and evaluation. The reward is not the Env's: it is
// Reward of the samples it returns, so training and the node agree on it.
type Env interface {
	// Reset starts a new episode, its randomness from seed, and returns
	// the first sample.
	Reset(seed uint64) (*gamesav1.Sample, error)
	// Step applies action i (Config.Action(i)) for one decision interval
	// and returns the sample at its end.
	Step(action int) (*gamesav1.Sample, error)
}

// ReinforceOptions sizes a Reinforce run.
type ReinforceOptions struct {
	// Episodes to run, Steps decisions each; every episode is one update.
	// Batch is how many episodes the report's first and last mean reward
	// cover.
	Episodes, Steps, Batch int
	// Seed derives each episode's Env seed (Seed + episode).
	Seed uint64
}

// ReinforceReport summarises a Reinforce run.
type ReinforceReport struct {
	// FirstReward and LastReward are the mean reward per step of the
	// first and the last batch of episodes (sampled actions).
	FirstReward, LastReward float64
	Updates                 int
}

// Reinforce trains the policy by REINFORCE with the learned baseline:
// episodes sample actions from softmax(scores) against env, and each
// episode's trajectory is one update (see update). Its cost is about
// Episodes × Steps × (one Env step + 3 µs). The model's window is
// Reset before each episode and left on the last one's.
func (m *Model) Reinforce(env Env, o ReinforceOptions) (ReinforceReport, error) {
	var rep ReinforceReport
	if o.Episodes < 1 || o.Steps < 2 || o.Batch < 1 {
		return rep, fmt.Errorf("policy: reinforce: need Episodes ≥ 1, Steps ≥ 2, Batch ≥ 1; got %+v", o)
	}
	traj := make([]transition, o.Steps)
	returns, adv := make([]float32, o.Steps), make([]float32, o.Steps)
	var batchSum float64
	var batchN int
	for ep := range o.Episodes {
		s, err := env.Reset(o.Seed + uint64(ep))
		if err != nil {
			return rep, fmt.Errorf("policy: reinforce: episode %d: %w", ep, err)
		}
		m.Reset()
		if err := m.Observe(s); err != nil {
			return rep, fmt.Errorf("policy: reinforce: episode %d: %w", ep, err)
		}
		for t := range o.Steps {
			a := m.sample()
			x := m.feat
			s, err := env.Step(a)
			if err != nil {
				return rep, fmt.Errorf("policy: reinforce: episode %d step %d: %w", ep, t, err)
			}
			if err := m.Observe(s); err != nil {
				return rep, fmt.Errorf("policy: reinforce: episode %d step %d: %w", ep, t, err)
			}
			// Observe recorded the cap it read back; train on the action
			// actually sampled, which is what the gradient needs.
			st := m.win[0]
			traj[t] = transition{x: x, action: a, reward: float32(reward(&st, &m.cfg))}
			batchSum += float64(traj[t].reward)
			batchN++
		}
		m.update(traj, returns, adv)
		rep.Updates++
		if (ep+1)%o.Batch == 0 || ep == o.Episodes-1 {
			mean := batchSum / float64(batchN)
			if rep.Updates <= o.Batch {
				rep.FirstReward = mean
			}
			rep.LastReward = mean
			batchSum, batchN = 0, 0
		}
	}
	return rep, nil
}
