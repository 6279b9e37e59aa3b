// Package devkeys derives the well-known Ethereum development accounts from a
// BIP-39 mnemonic along m/44'/60'/0'/0/i, exactly as Hardhat, Anvil and
// ethers do, so a Coco dev network can prefund the same addresses that
// tooling and tutorials expect.
//
// It owns only key derivation. It must not be used for production keys: the
// default mnemonic is public and no key material is protected here.
package devkeys
