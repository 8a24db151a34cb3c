/* exit-codes.h — exit statuses shared by every vpsctl helper.
 *
 * src/core/errors.ts mirrors these numbers; change both together.
 * vps-enter additionally passes the command's own status through, and uses
 * 126/127 (cannot execute / not found) and 128+N (killed by signal N) like a
 * shell does.
 */
#ifndef VPS_EXIT_CODES_H
#define VPS_EXIT_CODES_H

#define VPS_OK        0 /* success */
#define VPS_EFAIL     1 /* generic failure (see the message) */
#define VPS_EUSAGE    2 /* bad usage or invalid value */
#define VPS_ENOTFOUND 3 /* image, process, init or directory not found */
#define VPS_ELOCKED   4 /* resource held by someone else (image attached) */
#define VPS_ESTATE    5 /* wrong state (e.g. container already running) */
#define VPS_EHOST     6 /* host not ready: missing kernel feature or tool */
#define VPS_ENORES    7 /* out of resources: loop devices, disk, ids */

#endif
