/*  tm_components.c - freeing a list of cache key components.

    Only tm_components_free (declared in tm_cacheentry.h), so that the
    key deriver (tm_cachekey) links before tm_cacheentry.c lands; when
    it does, this file goes and the function lives there.
*/
#include "tm_cacheentry.h"

void
tm_components_free (tm_component_t **list_p, size_t count)
{
    assert (list_p);
    tm_component_t *list = *list_p;
    if (!list)
        return;
    for (size_t i = 0; i < count; i++)
        free (list [i].name);
    free (list);
    *list_p = NULL;
}
