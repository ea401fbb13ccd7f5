/* Out-of-tree consumer: links the installed libtessera.a and calls the core API. */
#include <stdio.h>
#include <tessera/tessera.h>

int main(void)
{
    tsr_handle_t h = NULL;
    tsr_status_t s = tsr_create(&h);
    printf("tessera %d: tsr_create -> %s\n", tsr_version(), tsr_status_string(s));
    if (s != TSR_STATUS_SUCCESS) printf("reason: %s\n", tsr_last_error());
    tsr_destroy(h);
    /* No device is a valid outcome on a build machine; anything else is not. */
    return (s == TSR_STATUS_SUCCESS || s == TSR_STATUS_NO_DEVICE) ? 0 : 1;
}
