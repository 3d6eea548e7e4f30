from django.urls import path

from voronka.activities import views

app_name = "activities"

urlpatterns = [
    path("tasks/", views.my_day, name="my-day"),
    path("tasks/list/", views.task_list, name="task-list"),
    path("tasks/calendar/", views.calendar, name="calendar"),
    path("tasks/new/", views.task_create, name="task-create"),
    path("tasks/<int:task_id>/", views.task_detail, name="task-detail"),
    path("tasks/<int:task_id>/complete/", views.task_complete, name="task-complete"),
    path("tasks/<int:task_id>/reschedule/", views.task_reschedule, name="task-reschedule"),
    path("tasks/<int:task_id>/reassign/", views.task_reassign, name="task-reassign"),
    path("tasks/<int:task_id>/move/", views.task_move, name="task-move"),
    path("control/", views.control, name="control"),
    path("counters/", views.counters, name="counters"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
]
