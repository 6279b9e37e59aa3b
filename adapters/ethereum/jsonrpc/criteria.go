package jsonrpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

const (
	maxTopics    = 4    // LOG0..LOG4
	maxSubTopics = 1000 // alternatives in one topic position, when decoding
	// maxLogQuery bounds the addresses, and the topics per position, of a
	// log query (go-ethereum's default LogQueryLimit).
	maxLogQuery = 1000
)

var (
	errInvalidTopic         = invalidParams("invalid topic(s)")
	errInvalidBlockRange    = invalidParams("invalid block range params")
	errBlockRangeIntoFuture = invalidParams("block range extends beyond current head block")
	errBlockHashWithRange   = invalidParams("can't specify fromBlock/toBlock with blockHash")
	errExceedMaxTopics      = errors.New("exceed max topics")
	errExceedLogQueryLimit  = errors.New("exceed max addresses or topics per search position")
)

// checkQueryLimits bounds the work one log query can ask for.
func checkQueryLimits(crit *filterCriteria) error {
	if len(crit.Topics) > maxTopics {
		return errExceedMaxTopics
	}
	if len(crit.Addresses) > maxLogQuery {
		return errExceedLogQueryLimit
	}
	for _, topics := range crit.Topics {
		if len(topics) > maxLogQuery {
			return errExceedLogQueryLimit
		}
	}
	return nil
}

// filterCriteria is a log query: go-ethereum's filters.FilterCriteria,
// decoded the same way (address single or array, topics with nulls and
// OR-arrays, blockHash exclusive with a range).
type filterCriteria ethereum.FilterQuery

func (args *filterCriteria) UnmarshalJSON(data []byte) error {
	type input struct {
		BlockHash *common.Hash     `json:"blockHash"`
		FromBlock *rpc.BlockNumber `json:"fromBlock"`
		ToBlock   *rpc.BlockNumber `json:"toBlock"`
		Addresses interface{}      `json:"address"`
		Topics    []interface{}    `json:"topics"`
	}
	var raw input
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw.BlockHash != nil {
		if raw.FromBlock != nil || raw.ToBlock != nil {
			return errors.New("cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
		}
		args.BlockHash = raw.BlockHash
	} else {
		if raw.FromBlock != nil {
			args.FromBlock = big.NewInt(raw.FromBlock.Int64())
		}
		if raw.ToBlock != nil {
			args.ToBlock = big.NewInt(raw.ToBlock.Int64())
		}
	}
	args.Addresses = []common.Address{}
	switch rawAddr := raw.Addresses.(type) {
	case nil:
	case []interface{}:
		for i, addr := range rawAddr {
			s, ok := addr.(string)
			if !ok {
				return fmt.Errorf("non-string address at index %d", i)
			}
			a, err := decodeAddress(s)
			if err != nil {
				return fmt.Errorf("invalid address at index %d: %v", i, err)
			}
			args.Addresses = append(args.Addresses, a)
		}
	case string:
		a, err := decodeAddress(rawAddr)
		if err != nil {
			return fmt.Errorf("invalid address: %v", err)
		}
		args.Addresses = []common.Address{a}
	default:
		return errors.New("invalid addresses in query")
	}
	if len(raw.Topics) > maxTopics {
		return errExceedMaxTopics
	}
	if len(raw.Topics) == 0 {
		return nil
	}
	// A null position, or a null inside an OR-array, matches anything.
	args.Topics = make([][]common.Hash, len(raw.Topics))
	for i, t := range raw.Topics {
		switch topic := t.(type) {
		case nil:
		case string:
			h, err := decodeTopic(topic)
			if err != nil {
				return err
			}
			args.Topics[i] = []common.Hash{h}
		case []interface{}:
			if len(topic) > maxSubTopics {
				return errExceedMaxTopics
			}
			for _, rawTopic := range topic {
				if rawTopic == nil {
					args.Topics[i] = nil
					break
				}
				s, ok := rawTopic.(string)
				if !ok {
					return errInvalidTopic
				}
				h, err := decodeTopic(s)
				if err != nil {
					return err
				}
				args.Topics[i] = append(args.Topics[i], h)
			}
		default:
			return errInvalidTopic
		}
	}
	return nil
}

func decodeAddress(s string) (common.Address, error) {
	b, err := hexutil.Decode(s)
	if err == nil && len(b) != common.AddressLength {
		err = fmt.Errorf("hex has invalid length %d after decoding; expected %d for address", len(b), common.AddressLength)
	}
	return common.BytesToAddress(b), err
}

func decodeTopic(s string) (common.Hash, error) {
	b, err := hexutil.Decode(s)
	if err == nil && len(b) != common.HashLength {
		err = fmt.Errorf("hex has invalid length %d after decoding; expected %d for topic", len(b), common.HashLength)
	}
	return common.BytesToHash(b), err
}

// filterLogs keeps the logs matching a block range (negative bounds are
// open), addresses and topics.
func filterLogs(logs []*types.Log, fromBlock, toBlock *big.Int, addresses []common.Address, topics [][]common.Hash) []*types.Log {
	var ret []*types.Log
	for _, log := range logs {
		if fromBlock != nil && fromBlock.Sign() >= 0 && fromBlock.Uint64() > log.BlockNumber {
			continue
		}
		if toBlock != nil && toBlock.Sign() >= 0 && toBlock.Uint64() < log.BlockNumber {
			continue
		}
		if matchLog(log, addresses, topics) {
			ret = append(ret, log)
		}
	}
	return ret
}

func matchLog(log *types.Log, addresses []common.Address, topics [][]common.Hash) bool {
	if len(addresses) > 0 && !slices.Contains(addresses, log.Address) {
		return false
	}
	if len(topics) > len(log.Topics) {
		return false
	}
	for i, sub := range topics {
		if len(sub) > 0 && !slices.Contains(sub, log.Topics[i]) {
			return false
		}
	}
	return true
}

// bloomMatch reports whether a block's bloom may hold a matching log.
func bloomMatch(bloom types.Bloom, addresses []common.Address, topics [][]common.Hash) bool {
	if len(addresses) > 0 && !slices.ContainsFunc(addresses, func(a common.Address) bool { return types.BloomLookup(bloom, a) }) {
		return false
	}
	for _, sub := range topics {
		if len(sub) > 0 && !slices.ContainsFunc(sub, func(t common.Hash) bool { return types.BloomLookup(bloom, t) }) {
			return false
		}
	}
	return true
}
