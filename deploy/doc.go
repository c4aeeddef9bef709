// Package deploy holds no code: its tests keep the deployment files in this
// directory honest, since the machine that runs them has no Docker engine
// and no AWS account.
//
//   - Dockerfile: parsed; its exact build command is run here and must
//     produce a static binary, which every other test then uses.
//   - compose.yaml: parsed; images pinned, dependencies sound, every
//     REPARTD_* variable a flag of its command; local/compose-equivalent.sh
//     runs the same commands against kinesalite and must match it.
//   - iam/repartd-policy.json: equal, per stream, to the AWS operations the
//     real binary starts against kinesalite (recorded by an SDK
//     middleware), and to the CloudFormation task role.
//   - aws/cloudformation.yaml and cloudwatch/: structure, conditions, and
//     every lag field they use is one the relay logs.
package deploy
